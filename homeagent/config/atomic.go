package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// synced, if set, is told every path WriteFileAtomic fsynced (the file,
// then its directory); tests watch durability through it.
var synced func(path string)

// WriteFileAtomic writes data to path with mode perm so that, after a
// crash or power loss at any moment, path holds either its old content or
// all of the new: the data goes to a temporary file in the same
// directory, which is fsynced, renamed over path, and then the directory
// is fsynced so that the rename itself is on disk. On failure path is
// unchanged and the temporary file is removed. The home agent's small
// files (default pools, identity, static devices) are written with it.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("config: writing %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && synced != nil {
		synced(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("config: writing %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("config: writing %s: the file is in place but its directory could not be synced: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory, making the renames inside it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err == nil && synced != nil {
		synced(dir)
	}
	return err
}
