package tunnel

// SendStats counts datagrams the shared socket could not send as handed
// to it because they were too big for the path the kernel knows
// (EMSGSIZE).
type SendStats struct {
	// Oversize counts messages refused with EMSGSIZE: a UDP GSO batch
	// whose segment size exceeds the route's MTU, or a single datagram.
	Oversize uint64
	// Resegmented counts refused GSO batches re-sent segment by segment,
	// so that the segments that fit go out.
	Resegmented uint64
	// Fragmented counts datagrams refused even when sent alone and sent
	// again with Don't Fragment off, fragmented by the kernel.
	Fragmented uint64
	// Dropped counts datagrams that could not be sent even so.
	Dropped uint64
	// Hints counts peer limits lowered because the kernel refused a
	// datagram to the peer's endpoint and knew a smaller path MTU toward
	// it (SetPeerMTU's limit, until the control side sets another).
	Hints uint64
}
