// Package layering holds no code: its test keeps the package table of
// docs/architecture.md equal to what `go list` reports, and holds every
// package to importing only packages the table lists below it, so that no
// package reaches up unnoticed.
package layering
