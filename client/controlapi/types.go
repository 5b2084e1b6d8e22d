// Package controlapi is the mobile node's local control socket, the
// counterpart of the home agent's homeagent/adminapi: `mnode up` serves it
// with NewServer over a Handler (the running client.Node), and `mnode
// status` and `mnode down` call it with QueryStatus and RequestDown.
//
// The socket speaks one JSON request per line and answers with one JSON
// response per line:
//
//	{"cmd":"status"}  ->  {"ok":true,"status":{...}}
//	{"cmd":"down"}    ->  {"ok":true}
//
// The socket file is mode 0600: only its owner (root) may query or stop
// the node.
package controlapi

import "github.com/homeip/homeip/client"

type request struct {
	Cmd string `json:"cmd"`
}

type response struct {
	OK     bool           `json:"ok"`
	Error  string         `json:"error,omitempty"`
	Status *client.Status `json:"status,omitempty"`
}

// Handler is what the control socket serves.
type Handler interface {
	// Status returns the node's current status.
	Status() client.Status
	// Down asks the node to stop cleanly; it returns at once.
	Down()
}
