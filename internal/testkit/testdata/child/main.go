// Command child is the process the Proc tests supervise: it prints its
// environment variable CHILD_GREETING and waits for SIGTERM (which it
// ignores with -ignore-term).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ignore := len(os.Args) > 1 && os.Args[1] == "-ignore-term"
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	fmt.Println("greeting:", os.Getenv("CHILD_GREETING"))
	for range sig {
		if !ignore {
			fmt.Println("terminated")
			return
		}
	}
}
