// Package tunnel is homeip's data plane: a wireguard-go device on a TUN
// whose peers are added, removed and re-pointed, and the one UDP socket
// that WireGuard shares with the QUIC control channel.
package tunnel
