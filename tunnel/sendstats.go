package tunnel

// SendStats counts datagrams the shared socket could not send as handed
// to it because they were too big for the path the kernel knows
// (EMSGSIZE).
type SendStats struct {
	// Oversize counts messages refused with EMSGSIZE: a UDP GSO batch
	// whose segment size exceeds the route's MTU, or a single datagram.
	Oversize uint64
	// Resegmented counts refused GSO batches re-sent segment by segment,
	// so that the kernel fragments only what does not fit and the other
	// segments go out.
	Resegmented uint64
	// Dropped counts datagrams refused even when sent alone.
	Dropped uint64
}
