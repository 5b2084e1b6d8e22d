// Command ha is the homeip home agent.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "ha: not built yet")
	os.Exit(2)
}
