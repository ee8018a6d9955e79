// Package wire holds the protobuf messages clicktocall nodes send each other
// through protoactor's cluster (its remote serialises protobuf only).
//
// wire.pb.go is generated from wire.proto and committed; regenerating it
// needs protoc (Debian: protobuf-compiler) and protoc-gen-go at the version
// of google.golang.org/protobuf in go.mod:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
package wire

//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto
