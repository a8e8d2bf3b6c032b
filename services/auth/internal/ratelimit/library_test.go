package ratelimit_test

import (
	"flag"
	"testing"

	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
)

var update = flag.Bool("update", false, "rewrite deploy/redis/functions from the code")

// TestLibraryFileCurrent keeps the file operators load with the admin
// identity (deploy/redis/functions) equal to the code the service calls.
func TestLibraryFileCurrent(t *testing.T) {
	if err := ratelimit.Library.CheckFile("../../../../deploy/redis/functions/"+ratelimit.LibraryPrefix+".lua", *update); err != nil {
		t.Fatal(err)
	}
}
