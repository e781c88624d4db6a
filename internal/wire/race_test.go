//go:build race

package wire

// raceEnabled shrinks the largest test payloads: the race detector makes JSON scanning about
// twenty times slower, and the sizes matter for the normal run, not for finding races.
const raceEnabled = true
