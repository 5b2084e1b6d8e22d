package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// FileError is an error in a config file: where, and why.
type FileError struct {
	File string // path, "" when parsing bytes
	Line int    // 1-based; 0 when unknown
	Key  string // the key concerned, if any
	Err  error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	} else if e.File != "" {
		b.WriteString(" ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// ErrUnknownKey is wrapped by the error about a key the config does not
// know.
var ErrUnknownKey = errors.New("unknown key")

// LoadFile reads the TOML file at path and applies it on top of c.
func LoadFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: reading %s: %w", path, err)
	}
	if err := Parse(c, data); err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			fe.File = path
		}
		return err
	}
	return nil
}

// Parse applies the TOML document data on top of c. Keys present in the
// document replace the value in c (a list replaces the whole list). On error
// c is unchanged and the error is a *FileError.
func Parse(c *Config, data []byte) error {
	raw := map[string]any{}
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		fe := &FileError{Err: ErrInvalid}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			fe.Line = pe.Position.Line
			fe.Err = fmt.Errorf("%w: %s", ErrInvalid, pe.Message)
		} else {
			fe.Err = fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return fe
	}
	lines := keyLines(data)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	// Report the first problem in file order.
	sort.Slice(keys, func(i, j int) bool {
		li, lj := lines[keys[i]], lines[keys[j]]
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	next := *c
	for _, k := range keys {
		f, ok := fieldByKey(k)
		if !ok {
			return &FileError{Line: lines[k], Key: k, Err: ErrUnknownKey}
		}
		vals, err := tomlStrings(raw[k], f.list)
		if err == nil {
			err = setAll(&next, f, vals)
		}
		if err != nil {
			return &FileError{Line: lines[k], Key: k, Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
		}
	}
	*c = next
	return nil
}

// setAll replaces f's value in c with vals.
func setAll(c *Config, f field, vals []string) error {
	if f.reset != nil {
		f.reset(c)
	}
	for _, v := range vals {
		if err := f.set(c, v); err != nil {
			return err
		}
	}
	return nil
}

// tomlStrings turns a decoded TOML value into the strings the field parsers
// take. Scalars (string, integer, boolean) are accepted where one value is
// expected, arrays of them where a list is.
func tomlStrings(v any, list bool) ([]string, error) {
	if arr, ok := v.([]any); ok {
		if !list {
			return nil, errors.New("want a single value, not an array")
		}
		out := make([]string, 0, len(arr))
		for _, e := range arr {
			s, err := tomlScalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	if list {
		return nil, errors.New("want an array, e.g. [\"a\", \"b\"]")
	}
	s, err := tomlScalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func tomlScalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		return "", fmt.Errorf("unsupported value of type %T", v)
	}
}

// keyLines finds the line each top-level key is defined on, for error
// messages. It understands what a top-level key can look like in TOML: bare
// or quoted key before '=', or a table header.
func keyLines(data []byte) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	inTable := false
	multi := "" // open multi-line string delimiter
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if multi != "" {
			if strings.Count(line, multi)%2 == 1 {
				multi = ""
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			inTable = true
			name := strings.Trim(line, "[] \t")
			if i := strings.IndexAny(name, ".]#"); i >= 0 {
				name = name[:i]
			}
			name = strings.Trim(strings.TrimSpace(name), `"'`)
			if _, seen := out[name]; !seen {
				out[name] = n
			}
			continue
		}
		if inTable {
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			continue
		}
		key := strings.TrimSpace(line[:eq])
		if i := strings.IndexByte(key, '.'); i >= 0 && key[0] != '"' && key[0] != '\'' {
			key = strings.TrimSpace(key[:i])
		}
		key = strings.Trim(key, `"'`)
		if _, seen := out[key]; !seen {
			out[key] = n
		}
		rest := line[eq+1:]
		for _, d := range []string{`"""`, `'''`} {
			if strings.Count(rest, d)%2 == 1 {
				multi = d
			}
		}
	}
	return out
}
