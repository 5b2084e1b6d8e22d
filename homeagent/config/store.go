package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Store settings: where the registry lives.
const (
	// DefaultEtcdPort is the port of an etcd endpoint given without one.
	DefaultEtcdPort = 2379
	// DefaultStorePrefix is the etcd key prefix when the store URL has no
	// path.
	DefaultStorePrefix = "/homeip/"
	// maxStorePrefix bounds the prefix's length.
	maxStorePrefix = 256
)

// storeFields are the settings of the store (appended to fields). The
// store is the bbolt file in the data directory unless `store` names an
// etcd cluster: etcd://host1:2379,host2:2379[/prefix/], or etcds:// for
// TLS with the store_ca, store_cert and store_key files.
var storeFields = []field{
	{key: "store", flag: "store", help: "registry: bbolt (the file in data_dir, default) or etcd[s]://host:port,...[/prefix/] (several home agents)",
		set: func(c *Config, v string) error {
			eps, tls, prefix, err := ParseStoreURL(v)
			if err != nil {
				return err
			}
			c.StoreEtcd, c.StoreEtcdTLS, c.StorePrefix = eps, tls, prefix
			return nil
		},
		get: func(c *Config) []string {
			if len(c.StoreEtcd) == 0 {
				return nil
			}
			return []string{FormatStoreURL(c.StoreEtcd, c.StoreEtcdTLS, c.StorePrefix)}
		}},
	strField("store_ca", "store-ca", "PEM file of the CA that signs the etcd members' certificates (etcds://)", func(c *Config) *string { return &c.StoreCA }),
	strField("store_cert", "store-cert", "PEM file of the client certificate etcd asks for (etcds://)", func(c *Config) *string { return &c.StoreCert }),
	strField("store_key", "store-key", "PEM file of the client certificate's key (etcds://)", func(c *Config) *string { return &c.StoreKey }),
}

// ParseStoreURL parses the store setting: "bbolt" (or empty) for the
// bbolt file in the data directory, which gives no endpoints, or
// etcd://host[:port],host[:port]...[/prefix/] (etcds:// for TLS). Hosts
// are DNS names, IPv4 addresses or bracketed IPv6 addresses; a missing
// port is DefaultEtcdPort. The prefix, if any, is returned with a final
// "/"; empty means DefaultStorePrefix. User information, queries and
// fragments are refused (the cluster authenticates by client
// certificate, store_cert).
func ParseStoreURL(v string) (endpoints []string, tls bool, prefix string, err error) {
	bad := func(format string, args ...any) ([]string, bool, string, error) {
		return nil, false, "", fmt.Errorf("store %q: %s", v, fmt.Sprintf(format, args...))
	}
	if v == "" || v == "bbolt" {
		return nil, false, "", nil
	}
	var rest string
	switch {
	case strings.HasPrefix(v, "etcd://"):
		rest = v[len("etcd://"):]
	case strings.HasPrefix(v, "etcds://"):
		rest, tls = v[len("etcds://"):], true
	default:
		return bad("want bbolt, etcd://host:port,... or etcds://host:port,...")
	}
	if i := strings.IndexAny(rest, "?#@"); i >= 0 {
		return bad("%q is not allowed (no user, query or fragment; etcds:// authenticates with store_cert)", rest[i])
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return bad("no etcd endpoint")
	}
	for h := range strings.SplitSeq(hosts, ",") {
		ep, err := parseEtcdEndpoint(h)
		if err != nil {
			return bad("%v", err)
		}
		if slices.Contains(endpoints, ep) {
			return bad("endpoint %s given twice", ep)
		}
		endpoints = append(endpoints, ep)
	}
	if p := strings.TrimSuffix(path, "/"); p != "" {
		prefix = "/" + p + "/"
		if len(prefix) > maxStorePrefix {
			return bad("prefix longer than %d bytes", maxStorePrefix)
		}
		for seg := range strings.SplitSeq(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return bad("prefix %q: empty, . or .. path element", prefix)
			}
			for _, r := range seg {
				if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.IsSpace(r) {
					return bad("prefix %q: only printable characters without spaces", prefix)
				}
			}
		}
	}
	return endpoints, tls, prefix, nil
}

// parseEtcdEndpoint checks one host[:port] and returns it as host:port.
func parseEtcdEndpoint(h string) (string, error) {
	host, port := h, ""
	switch {
	case strings.HasPrefix(h, "["):
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", fmt.Errorf("endpoint %q: unclosed [", h)
		}
		host = h[1:end]
		if after := h[end+1:]; after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return "", fmt.Errorf("endpoint %q: want [address]:port", h)
			}
			port = p
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return "", fmt.Errorf("endpoint %q: want an IPv6 address without zone in brackets", h)
		}
		host = a.String()
	case strings.Count(h, ":") > 1:
		return "", fmt.Errorf("endpoint %q: put an IPv6 address in brackets", h)
	default:
		if i := strings.IndexByte(h, ':'); i >= 0 {
			host, port = h[:i], h[i+1:]
		}
		if a, err := netip.ParseAddr(host); err == nil {
			host = a.String()
		} else if host = strings.ToLower(host); !validHostname(host) {
			return "", fmt.Errorf("endpoint %q: %q is neither an address nor a host name", h, host)
		}
	}
	n := DefaultEtcdPort
	if port != "" {
		var err error
		n, err = strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", fmt.Errorf("endpoint %q: port must be 1 to 65535", h)
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// validHostname accepts a lower-case DNS name (letters, digits, hyphens;
// an all-numeric name would read as an address and is refused).
func validHostname(h string) bool {
	if strings.Trim(h, "0123456789.") == "" {
		return false
	}
	return validZone(strings.TrimSuffix(h, "."))
}

// FormatStoreURL is the inverse of ParseStoreURL for a cluster: the
// canonical URL of its endpoints, TLS and prefix.
func FormatStoreURL(endpoints []string, tls bool, prefix string) string {
	scheme := "etcd://"
	if tls {
		scheme = "etcds://"
	}
	return scheme + strings.Join(endpoints, ",") + prefix
}

// validateStore checks the store settings together.
func (c Config) validateStore() error {
	tlsFiles := c.StoreCA != "" || c.StoreCert != "" || c.StoreKey != ""
	switch {
	case len(c.StoreEtcd) == 0 && tlsFiles:
		return fmt.Errorf("%w: store_ca, store_cert and store_key need an etcds:// store", ErrInvalid)
	case len(c.StoreEtcd) > 0 && !c.StoreEtcdTLS && tlsFiles:
		return fmt.Errorf("%w: store_ca, store_cert and store_key are for TLS: write the store as etcds://", ErrInvalid)
	case (c.StoreCert == "") != (c.StoreKey == ""):
		return fmt.Errorf("%w: store_cert and store_key go together", ErrInvalid)
	}
	return nil
}
