package config

import (
	"os"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary documents to the parser: no panic, a failed
// parse leaves the config alone, and a successful one survives a
// Marshal/Parse round trip unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(storeExample))
	if data, err := os.ReadFile("../../deploy/ha.example.toml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Config{MTU: 1300}
		if err := Parse(&c, data); err != nil {
			if !reflect.DeepEqual(c, Config{MTU: 1300}) {
				t.Fatalf("changed on error %v", err)
			}
			return
		}
		var back Config
		out := Marshal(c)
		if err := Parse(&back, out); err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("round trip:\n%+v\n%+v", c, back)
		}
	})
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
