package mobile

// Callbacks is implemented by the app (a Java/Kotlin or Swift object
// through gobind). Its methods are called from Go's own threads, never
// from the app's main thread, possibly from several at once: they must be
// safe for concurrent use and return quickly (post to the UI thread
// rather than touching views). They must not call Node.Stop, which waits
// for the goroutines that call them.
type Callbacks interface {
	// StateChanged reports a change of the node's state or of its path:
	// state is one of "starting", "no-link", "connecting", "registered",
	// "moving", "reconnecting", "stopping" and, last of all, "stopped";
	// statusJSON is Node.Status at that moment. Calls are in order and
	// coalesced: a burst of changes may be reported once, with the
	// latest status.
	StateChanged(state string, statusJSON string)
	// Log receives one log line: level is the slog level (-4 debug,
	// 0 info, 4 warn, 8 error), line the message and its attributes as
	// key=value text.
	Log(level int, line string)
	// Protect is called with every UDP socket the node opens (at Start
	// and again after every network change), before it is bound. On
	// Android, return VpnService.protect(fd) so that the tunnel's own
	// packets do not loop into the tunnel; an app that wants the tunnel
	// on a network other than the OS default may also bind the socket to
	// it there (Network.bindSocket). Returning false fails the socket. On
	// iOS return true.
	Protect(fd int) bool
}
