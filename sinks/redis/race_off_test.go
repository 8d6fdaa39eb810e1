//go:build !race

package redis

const raceOn = false
