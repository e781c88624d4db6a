package openapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"
)

// BenchmarkBuildRequest measures turning tool arguments into an *http.Request.
func BenchmarkBuildRequest(b *testing.B) {
	doc := parseFile(b, "petstore-3.0.json")
	auth := Auth{{Scheme: doc.Security["api_key"], Value: "k"}}
	for _, tc := range []struct {
		op   string
		args map[string]any
	}{
		{"getPetById", map[string]any{"petId": 10.0}},
		{"findPetsByStatus", map[string]any{"status": []any{"available", "sold"}}},
		{"addPet", map[string]any{"name": "doggie", "photoUrls": []any{"a", "b"}, "status": "available",
			"category": map[string]any{"id": 1.0, "name": "Dogs"}, "tags": []any{map[string]any{"id": 2.0, "name": "good"}}}},
	} {
		op := opByName(b, doc, tc.op)
		b.Run(tc.op, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := BuildRequest(context.Background(), op, tc.args, auth); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkToolCall compares one call to a loopback upstream made directly (a plain
// http.Client with a prepared request: the upstream's own time) with the same call made as an
// API tool (BuildRequest from arguments, then the guarded egress client with its dial-time
// checks, read timeout and size cap). The difference of the p50 figures is what a tool call
// adds.
func BenchmarkToolCall(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":10,"name":"doggie","photoUrls":["a"],"status":"available"}`)
	}))
	defer srv.Close()
	doc := parseFile(b, "petstore-3.0.json")
	op := opByName(b, doc, "getPetById")
	op.ServerURL = srv.URL + "/v2"
	auth := Auth{{Scheme: doc.Security["api_key"], Value: "k"}}
	args := map[string]any{"petId": 10.0}

	run := func(b *testing.B, call func() error) {
		times := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if err := call(); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
	}
	drain := func(resp *http.Response, err error) error {
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	b.Run("direct", func(b *testing.B) {
		client := &http.Client{}
		run(b, func() error {
			req, _ := http.NewRequest("GET", srv.URL+"/v2/pet/10", nil)
			req.Header.Set("api_key", "k")
			return drain(client.Do(req))
		})
	})
	b.Run("tool", func(b *testing.B) {
		client := loopbackClient(b)
		run(b, func() error {
			req, err := BuildRequest(context.Background(), op, args, auth)
			if err != nil {
				return err
			}
			return drain(client.Do(req))
		})
	})
}
