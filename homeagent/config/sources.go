package config

import (
	"flag"
	"fmt"
	"strings"
)

// EnvPrefix starts the name of every environment variable the config reads:
// HOMEIP_HA_LISTEN, HOMEIP_HA_POOL4, ...
const EnvPrefix = "HOMEIP_HA_"

// EnvName is the environment variable of the setting with TOML key key.
func EnvName(key string) string { return EnvPrefix + strings.ToUpper(key) }

// ApplyEnv applies the HOMEIP_HA_* variables of environ ("KEY=value"
// entries, os.Environ() in production) on top of c. Lists are comma-separated. Variables with the
// prefix that name no setting are an error, so a typo is not silently
// ignored. On error c is unchanged.
func ApplyEnv(c *Config, environ []string) error {
	next := *c
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
		f, ok := fieldByKey(key)
		if !ok {
			return fmt.Errorf("config: environment %s: %w", name, ErrUnknownKey)
		}
		vals := []string{val}
		if f.list {
			vals = nil
			for _, v := range strings.Split(val, ",") {
				if v = strings.TrimSpace(v); v != "" {
					vals = append(vals, v)
				}
			}
		}
		if err := setAll(&next, f, vals); err != nil {
			return fmt.Errorf("config: environment %s: %w: %v", name, ErrInvalid, err)
		}
	}
	*c = next
	return nil
}

// Flags registers one flag per setting on fs. Parse the flag set, then call
// the returned function to apply the flags that were given on top of c
// (after the file and the environment). Repeatable flags replace the list
// from the file as a whole.
func Flags(fs *flag.FlagSet) (apply func(c *Config) error) {
	given := map[string][]string{}
	for _, f := range fields {
		f := f
		if f.flag == "" {
			continue
		}
		parse := func(v string) error {
			// Validate early so the flag package reports the flag.
			var scratch Config
			if err := f.set(&scratch, v); err != nil {
				return err
			}
			given[f.key] = append(given[f.key], v)
			return nil
		}
		if f.bool {
			fs.BoolFunc(f.flag, f.help, parse)
		} else {
			fs.Func(f.flag, f.help, parse)
		}
	}
	return func(c *Config) error {
		next := *c
		for _, f := range fields {
			vals, ok := given[f.key]
			if !ok {
				continue
			}
			if !f.list {
				vals = vals[len(vals)-1:]
			}
			if err := setAll(&next, f, vals); err != nil {
				return fmt.Errorf("config: flag -%s: %w: %v", f.flag, ErrInvalid, err)
			}
		}
		*c = next
		return nil
	}
}

// Marshal writes c as a TOML document that Parse reads back to the same
// Config. Unset (zero) settings are left out.
func Marshal(c Config) []byte {
	var b strings.Builder
	for _, f := range fields {
		vals := f.get(&c)
		if f.list {
			if len(vals) == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s = [", f.key)
			for i, v := range vals {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(quote(v))
			}
			b.WriteString("]\n")
			continue
		}
		if len(vals) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", f.key, quote(vals[0]))
	}
	return []byte(b.String())
}

// quote writes v as a TOML basic string.
func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
