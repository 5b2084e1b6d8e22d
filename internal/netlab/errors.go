package netlab

import "errors"

// Sentinel errors, for errors.Is. Returned errors wrap them with what was
// being done.
var (
	// ErrNotRoot means the process lacks the privileges to build a lab.
	ErrNotRoot = errors.New("netlab: must run as root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	// ErrMissingTool means a required command (ip, nft) is not installed.
	ErrMissingTool = errors.New("netlab: required tool not found")
	// ErrNoNetns means network namespaces or veth pairs cannot be created.
	ErrNoNetns = errors.New("netlab: cannot create network namespaces")
	// ErrNoNftables means nftables NAT is not usable in a namespace.
	ErrNoNftables = errors.New("netlab: nftables NAT unavailable")
	// ErrBadPrefix means a lab name prefix is malformed.
	ErrBadPrefix = errors.New("netlab: bad lab prefix")
	// ErrClosed is returned by operations on a closed lab. It satisfies
	// errors.Is(err, net.ErrClosed) as well.
	ErrClosed = closedError{}
	// ErrNotRouter means FlushNAT was given a node that does no NAT.
	ErrNotRouter = errors.New("netlab: node is not a NAT router")
)

type closedError struct{}

func (closedError) Error() string { return "netlab: lab is closed" }

// Is makes errors.Is(ErrClosed, net.ErrClosed) true.
func (closedError) Is(target error) bool { return target == netErrClosed }
