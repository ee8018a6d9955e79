package actors

import "github.com/asynkron/protoactor-go/actor"

// callDispatcher runs a call actor's mailbox on the goroutine that posts to
// it: the transport's read loop for the SIP messages of a leg's dialog, the
// timing wheel for timers, the front end that starts the call, the other
// actors of the same call for their messages. A SIP message is then parsed,
// routed and handled, and its consequences in the call (a result, the next
// request) carried out, without a goroutine switch: on this server the
// switches, not the work, were the largest cost per call (the runtime's
// scheduler and idle processors spinning for work). The mailbox still
// runs one message at a time: a post to an actor already running elsewhere
// is queued and handled there. This holds because call actors never block
// (the transport only writes to sockets) and no poster holds a lock a call
// actor takes (the engine spawns calls outside its lock).
var callDispatcher = actor.NewSynchronizedDispatcher(300)
