// Package outside proves that this repository's library modules can be
// used the way a team outside it uses them: from a module proxy, at a
// tagged version, without go.work and without replace directives. Its test
// writes a file-system GOPROXY from the working tree (WriteProxy) and builds
// small services against it in their own temporary modules.
package outside

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// Libraries are the modules a user outside the repository may require
// (plus internal/testkit, which the libraries' tests require and which a
// user's go command therefore resolves too), as directories relative to
// the repository root.
var Libraries = []string{
	"pkg/revocation",
	"pkg/events",
	"pkg/jwtx",
	"pkg/jwtx/nearcache",
	"pkg/jwtxgrpc",
	"internal/testkit",
}

// WriteProxy writes into dir a file-system module proxy (GOPROXY=file://dir)
// serving each module directory of root listed in mods at version: the
// @v/list, .info, .mod and .zip files the go command asks for, with the
// module paths escaped as the proxy protocol requires. It returns the
// module paths it wrote.
func WriteProxy(dir, root, version string, mods []string) ([]string, error) {
	var paths []string
	for _, rel := range mods {
		src := filepath.Join(root, filepath.FromSlash(rel))
		gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
		if err != nil {
			return nil, err
		}
		path := modfile.ModulePath(gomod)
		if path == "" {
			return nil, fmt.Errorf("%s/go.mod names no module", rel)
		}
		if err := writeVersion(dir, src, module.Version{Path: path, Version: version}, gomod); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// writeVersion writes the four proxy files of one module version.
func writeVersion(dir, src string, mv module.Version, gomod []byte) error {
	escPath, err := module.EscapePath(mv.Path)
	if err != nil {
		return err
	}
	escVersion, err := module.EscapeVersion(mv.Version)
	if err != nil {
		return err
	}
	vdir := filepath.Join(dir, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, "list"), []byte(mv.Version+"\n"), 0o644); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{mv.Version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, escVersion+".info"), info, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, escVersion+".mod"), gomod, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(vdir, escVersion+".zip"))
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(f, mv, src); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
