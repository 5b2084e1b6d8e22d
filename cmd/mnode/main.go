// Command mnode is the homeip mobile node.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "mnode: not built yet")
	os.Exit(2)
}
