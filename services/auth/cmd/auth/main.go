// Command auth is the auth service: users, tokens and logout. See --help.
package main

import (
	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/services/auth/internal/app"
)

func main() { service.Main("auth", app.Run) }
