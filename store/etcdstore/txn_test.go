package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestLostRaceIsDecidedAgain: a transaction whose read key changes before
// its commit is decided again from the value the Else branch returned,
// and gives up with ErrContention after MaxRetries lost races.
func TestLostRaceIsDecidedAgain(t *testing.T) {
	ep := startEtcd(t)
	c := rawClient(t, ep)
	s := openTest(t, ep)
	key := s.k.p + "race-test"
	defer c.Delete(bg, key) // not part of the layout: gone before Check

	// Another writer changes the key after the first attempt read it.
	var seen []string
	err := s.update(bg, "racing once", func(x *tx) error {
		v, _, err := x.get(key)
		if err != nil {
			return err
		}
		seen = append(seen, string(v))
		if len(seen) == 1 {
			if _, err := c.Put(bg, key, "theirs"); err != nil {
				return err
			}
		}
		x.put(key, []byte("ours after "+string(v)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "" || seen[1] != "theirs" || s.lostRaces.Load() != 1 {
		t.Fatalf("attempts saw %q, %d lost races; want [\"\" theirs] and 1", seen, s.lostRaces.Load())
	}
	if resp, err := c.Get(bg, key); err != nil || string(resp.Kvs[0].Value) != "ours after theirs" {
		t.Fatalf("final value: %v %v", resp, err)
	}

	// A writer that changes it every time: the call gives up.
	s.maxRetries = 3
	attempts := 0
	err = s.update(bg, "racing always", func(x *tx) error {
		attempts++
		if _, _, err := x.get(key); err != nil {
			return err
		}
		if _, err := c.Put(bg, key, fmt.Sprint("theirs ", attempts)); err != nil {
			return err
		}
		x.put(key, []byte("ours"))
		return nil
	})
	if !errors.Is(err, ErrContention) || attempts != 3 {
		t.Fatalf("update = %v after %d attempts, want ErrContention after 3", err, attempts)
	}

	// A cancelled context ends the call with the context's error.
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := s.update(ctx, "cancelled", func(*tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("update with a cancelled context = %v", err)
	}
}
