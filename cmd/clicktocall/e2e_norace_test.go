//go:build !race

package main

// raceEnabled: the tests run without -race, and so does the server under test.
const raceEnabled = false
