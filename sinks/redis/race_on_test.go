//go:build race

package redis

// raceOn is set when the race detector is on; big model tests shrink then,
// since it slows the Go side about tenfold.
const raceOn = true
