package phone_test

import (
	"context"
	"fmt"
	"time"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/emiago/sipgo/sip"
)

// An engine test: the initiator rings, answers, accepts the server's REFER and reports the
// transfer's progress; the test then asserts on what the server sent.
func Example() {
	initiator, err := phone.New(phone.Config{
		User: "alice",
		Behaviour: phone.Behaviour{
			Ring: true, RingDelay: 50 * time.Millisecond,
			Refer: phone.ReferBehaviour{EventID: true, Ringing: true},
		},
	})
	if err != nil {
		panic(err)
	}
	defer initiator.Close()
	target := initiator.URI("udp") // hand this to the server as the initiator's address
	_ = target

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// ... ask the server to place the call ...
	call, err := initiator.WaitCall(ctx, phone.Received(sip.REFER))
	if err != nil {
		fmt.Println(err) // names every call and its flow so far
		return
	}
	refer, _ := call.Request(phone.In, sip.REFER)
	invite, _ := call.Request(phone.In, sip.INVITE)
	fmt.Println(refer.Header("Refer-To"), phone.SDPDirection(invite.Body()))
	fmt.Println(call.Methods(phone.In)) // [INVITE ACK REFER]
}
