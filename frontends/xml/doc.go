// Package xml is the XML-over-TCP front end of clicktocall: clients send
// <ClickToCall><Request>…</Request></ClickToCall> documents, back to back on
// one connection if they like, and get a stream of response documents for
// each request, the 100 "In progress" first and exactly one final result
// last. The streams of concurrent requests interleave on the connection.
//
// An accept loop feeds a listener actor, which enforces the connection
// limits and spawns one connection actor per client. The connection's reader
// goroutine decodes documents with encoding/xml (the plain shape most
// clients send, already buffered whole, is read directly at a tenth of the
// cost, with the same result) and sends them to the actor; the engine's progress callbacks send results to it; the actor
// renders them and queues them for its writer goroutine, so that neither a
// slow client nor the engine is ever blocked by the other.
//
// Decisions the behaviour spec leaves open:
//   - A response echoes the <Request> element byte for byte as the client sent
//     it, tag and attributes included. When there is nothing to echo (the
//     document could not be parsed, was too large, had no Request element, or
//     the connection was refused) the response carries an empty
//     <Request></Request>.
//   - Element names are matched case-insensitively on their local name;
//     namespace prefixes are ignored. Unknown elements inside <Request> are
//     ignored, a root other than ClickToCall or a child of the root other than
//     Request is "Unknown method", a field given twice is "Duplicate X tag".
//   - Initiator and Destination are trimmed of surrounding whitespace; empty
//     counts as missing. AnchorCall is true only for "true" in any case.
//   - The per-call options are elements too (InitiatorCallerId, TimeLimit,
//     Metadata, ...), checked by the same intake as the other interfaces'
//     fields; a header is an InitiatorHeader or DestinationHeader element
//     with a Name attribute, repeated once per header (the only elements
//     that may be repeated).
//   - A document that is not XML, is broken, or declares an encoding other than
//     UTF-8 or ASCII gets 400 "Parse error"; one over the size limit gets 413.
//     Both end the connection, because where the next document starts is
//     unknowable. Text before a root element is answered at once, without
//     waiting for a '<' that a non-XML client never sends.
//   - Errors found by the front end itself and the 503 of a refused connection
//     carry no Leg attribute.
//   - A request the engine refuses at a limit, under overload or while
//     shutting down gets its 503 with a RetryAfter attribute, the whole
//     seconds after which to try again: <Result Code="503" RetryAfter="2">.
//   - A client that half-closes after its requests still gets every result;
//     the connection closes after the last final. A client that closes for good
//     loses its results, and its calls go on.
//   - On Shutdown, new requests on open connections get 503 "Server shutting
//     down"; when Shutdown's context ends, calls still without a final get that
//     503 as their final before the connection is closed.
package xml
