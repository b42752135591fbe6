// Package snap stores snapshot files: an application state image with the
// metadata (index, term, membership) that places it in the Raft log.
//
// A snapshot is written to a temporary file, fsynced, renamed into place
// and the directory fsynced, so a crash leaves either the whole new file or
// none of it. A CRC-32C over the whole content is verified on every load.
// The newest few snapshots are kept (Options.Retain); older ones are
// removed after a new one is durable.
package snap
