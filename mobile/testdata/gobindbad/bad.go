// Package gobindbad is an API full of what gobind cannot bind, for
// TestGobindCheckerCatches. It is not compiled (testdata).
package gobindbad

import (
	"context"
	"net/netip"
	"os"
)

type Good struct {
	Name   string
	Data   []byte
	Prefix netip.Prefix
	Names  []string
	hidden chan int
}

type Iface interface {
	Name() string
	Count() uint64
	hidden()
}

type Kind int

type Pair[T any] struct{ A, B T }

const Version = "1"

var Sentinel = os.ErrNotExist

var Counter uint32

func Fine(a int, b string, c *Good, d Iface, e []byte, f float64, g bool) (int64, error) {
	return 0, nil
}

func (g *Good) Fine() error             { return nil }
func (g *Good) Bad(f *os.File)          {}
func Addr(a netip.Addr)                 {}
func Chan(c chan int)                   {}
func Map() map[string]int               { return nil }
func Ctx(ctx context.Context)           {}
func Unsigned(p uint16)                 {}
func Variadic(xs ...int)                {}
func Callback(f func())                 {}
func Three() (int, int, error)          { return 0, 0, nil }
func SecondNotError() (int, string)     { return 0, "" }
func ByValue(g Good)                    {}
func Generic[T any](x T)                {}
func unexported(c chan int)             {}
func (g *Good) unexportedMethod(x uint) {}
