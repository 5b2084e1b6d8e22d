// Package tunneltest provides an in-memory fake of tunnel.DataPlane for
// tests of the home agent and the mobile node that run without root, in
// the spirit of wireguard-go's conn/bindtest and tun/tuntest.
package tunneltest
