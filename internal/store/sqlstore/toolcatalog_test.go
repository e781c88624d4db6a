package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/store"
)

// Conformance of catalog.Store, run by runConformance on both databases.

func catalogStore(t *testing.T, s store.Store) catalog.Store {
	cs, ok := s.(catalog.Store)
	if !ok {
		t.Fatalf("%T does not implement catalog.Store", s)
	}
	return cs
}

func testToolProviders(t *testing.T, s store.Store) {
	cs := catalogStore(t, s)
	ctx := ctxT(t)
	at := time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.UTC)
	p := catalog.StoredProvider{Provider: catalog.Provider{ID: "p1", Kind: catalog.KindAPI, Name: "pets", Label: "Pets",
		Config:      json.RawMessage(`{"server":"http://x"}`),
		Credentials: map[string]string{"api_key": "must-not-be-stored"},
		Tools:       []catalog.Tool{{Name: "list", InputSchema: json.RawMessage(`{"type":"object","required":["a"]}`)}},
		CreatedAt:   at, UpdatedAt: at}, SealedCredentials: []byte{0, 1, 2, 255}}
	ch := []catalog.Change{{Kind: catalog.ChangeProviderAdded, ProviderKind: catalog.KindAPI, ProviderID: "p1", At: at}}
	if err := cs.CreateProvider(ctx, "t1", p, ch); err != nil {
		t.Fatal(err)
	}
	got := must(cs.GetProvider(ctx, "t1", "p1"))
	if got.Credentials["api_key"] != "" || len(got.Credentials) != 1 {
		t.Fatalf("credential values must not be stored in the body: %v", got.Credentials)
	}
	if !reflect.DeepEqual(got.SealedCredentials, p.SealedCredentials) || !got.CreatedAt.Equal(at) ||
		string(got.Tools[0].InputSchema) != `{"type":"object","required":["a"]}` || string(got.Config) != `{"server":"http://x"}` {
		t.Fatalf("round trip: %+v", got)
	}
	// Same kind and name: conflict; same name, other kind: fine; other tenant: fine.
	dup := p
	dup.ID = "p2"
	if err := cs.CreateProvider(ctx, "t1", dup, nil); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	dup.Kind = catalog.KindWorkflow
	must(0, cs.CreateProvider(ctx, "t1", dup, nil))
	must(0, cs.CreateProvider(ctx, "t2", p, nil))
	if _, err := cs.GetProvider(ctx, "t3", "p1"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("other tenant sees it: %v", err)
	}
	list := must(cs.ListProviders(ctx, "t1"))
	if len(list) != 2 || list[0].ID != "p1" || list[1].ID != "p2" {
		t.Fatalf("list: %+v", list)
	}
	// Replace, then delete with preferences going too.
	p.Tools = nil
	p.SealedCredentials = nil
	p.Label = "Pets 2"
	must(0, cs.ReplaceProvider(ctx, "t1", p, []catalog.Change{{Kind: catalog.ChangeToolRemoved, ProviderID: "p1", Tool: "list", Reason: catalog.ReasonOperationRemoved}}))
	got = must(cs.GetProvider(ctx, "t1", "p1"))
	if got.Label != "Pets 2" || got.SealedCredentials != nil || len(got.Tools) != 0 {
		t.Fatalf("after replace: %+v", got)
	}
	last := must(cs.LastRemoval(ctx, "t1", "p1", "list"))
	if last.Reason != catalog.ReasonOperationRemoved || last.Version != 2 {
		t.Fatalf("last removal: %+v", last)
	}
	if _, err := cs.LastRemoval(ctx, "t1", "p1", "other"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("no removal: %v", err)
	}
	ghost := p
	ghost.ID = "nope"
	if err := cs.ReplaceProvider(ctx, "t1", ghost, nil); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("replace missing: %v", err)
	}
	must(0, cs.SetPreference(ctx, "t1", catalog.Preference{Target: catalog.TargetTool, Name: "p1/list", Pinned: true}, nil))
	must(0, cs.SetPreference(ctx, "t1", catalog.Preference{Target: catalog.TargetTool, Name: "p10/list", Hidden: true}, nil))
	must(0, cs.DeleteProvider(ctx, "t1", "p1", []catalog.Change{{Kind: catalog.ChangeProviderRemoved, ProviderID: "p1"}}))
	if err := cs.DeleteProvider(ctx, "t1", "p1", nil); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	prefs := must(cs.Preferences(ctx, "t1"))
	if len(prefs) != 1 || prefs[0].Name != "p10/list" {
		t.Fatalf("preferences of a deleted provider must go, others stay: %+v", prefs)
	}
	if err := cs.CreateProvider(ctx, "", p, nil); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("empty tenant: %v", err)
	}
}

func testToolPreferences(t *testing.T, s store.Store) {
	cs := catalogStore(t, s)
	ctx := ctxT(t)
	set := func(target catalog.Target, name string, pin, hide bool) {
		must(0, cs.SetPreference(ctx, "t", catalog.Preference{Target: target, Name: name, Pinned: pin, Hidden: hide}, []catalog.Change{{Kind: catalog.ChangePreference}}))
	}
	set(catalog.TargetProvider, "b", true, false)
	set(catalog.TargetProvider, "a", true, false)
	set(catalog.TargetTool, "a/x", false, true)
	set(catalog.TargetProvider, "b", true, true) // stays where it was pinned
	set(catalog.TargetProvider, "c", true, false)
	set(catalog.TargetProvider, "a", false, false) // dropped
	prefs := must(cs.Preferences(ctx, "t"))
	var names []string
	for _, p := range prefs {
		names = append(names, fmt.Sprintf("%s:%s:%t:%t", p.Target, p.Name, p.Pinned, p.Hidden))
	}
	want := []string{"provider:b:true:true", "provider:c:true:false", "tool:a/x:false:true"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("got %v, want %v", names, want)
	}
	if prefs[0].Position >= prefs[1].Position {
		t.Fatalf("pin order lost: %+v", prefs)
	}
	if len(must(cs.Preferences(ctx, "other"))) != 0 {
		t.Fatal("another tenant sees preferences")
	}
	_, v := must2(cs.Changes(ctx, "t", 0, 0))
	if v != 6 {
		t.Fatalf("version %d after 6 changes", v)
	}
}

func testToolChangeLog(t *testing.T, s store.Store) {
	cs := catalogStore(t, s)
	ctx := ctxT(t)
	seen, v := must2(cs.PluginsSeen(ctx, "t"))
	if len(seen) != 0 || v != 0 {
		t.Fatalf("fresh tenant: %v %d", seen, v)
	}
	rec := []catalog.PluginSeen{{PluginID: "a/p", UniqueIdentifier: "a/p:1@x", Version: "1", Tools: []string{"a/p/p/t1"}}}
	adds := []catalog.Change{{Kind: catalog.ChangeProviderAdded, ProviderID: "a/p/p"}, {Kind: catalog.ChangeToolAdded, ProviderID: "a/p/p", Tool: "t1"}}
	must(0, cs.SetPluginsSeen(ctx, "t", rec, 0, adds))
	if err := cs.SetPluginsSeen(ctx, "t", nil, 0, adds); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("stale version must conflict: %v", err)
	}
	seen, v = must2(cs.PluginsSeen(ctx, "t"))
	if v != 2 || !reflect.DeepEqual(seen, rec) {
		t.Fatalf("seen %+v at %d", seen, v)
	}
	changes, head := must2(cs.Changes(ctx, "t", 0, 0))
	if head != 2 || len(changes) != 2 || changes[0].Version != 1 || changes[1].Tool != "t1" || changes[0].At.IsZero() {
		t.Fatalf("changes %+v head %d", changes, head)
	}
	changes, _ = must2(cs.Changes(ctx, "t", 1, 0))
	if len(changes) != 1 || changes[0].Version != 2 {
		t.Fatalf("since 1: %+v", changes)
	}
	changes, _ = must2(cs.Changes(ctx, "t", 0, 1))
	if len(changes) != 1 {
		t.Fatalf("limit 1: %+v", changes)
	}
	if c, h := must2(cs.Changes(ctx, "other", 0, 0)); len(c) != 0 || h != 0 {
		t.Fatal("another tenant sees the change log")
	}

	// Concurrent writers of one tenant get distinct, gapless versions.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- cs.SetPreference(ctx, "t", catalog.Preference{Target: catalog.TargetProvider, Name: fmt.Sprint("p", i), Pinned: true},
				[]catalog.Change{{Kind: catalog.ChangePreference}, {Kind: catalog.ChangePreference}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	changes, head = must2(cs.Changes(ctx, "t", 0, 0))
	if head != 18 || len(changes) != 18 {
		t.Fatalf("head %d with %d entries, want 18", head, len(changes))
	}
	for i, c := range changes {
		if c.Version != int64(i+1) {
			t.Fatalf("entry %d has version %d", i, c.Version)
		}
	}
	prefs := must(cs.Preferences(ctx, "t"))
	positions := map[int]bool{}
	for _, p := range prefs {
		if positions[p.Position] {
			t.Fatalf("two pins at position %d: %+v", p.Position, prefs)
		}
		positions[p.Position] = true
	}
}
