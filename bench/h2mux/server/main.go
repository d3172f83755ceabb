// Throwaway measurement server: answers every POST with 200 + empty body.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	mode := flag.String("mode", "h1", "h1 (fasthttp) | h1std (net/http HTTP/1.1) | h2 (net/http h2c prior knowledge) | h2raw (minimal HTTP/2 on http2.Framer)")
	addr := flag.String("addr", "127.0.0.1:8080", "listen addr")
	echo := flag.Bool("echo", false, "echo request path in X-Path response header (correctness check)")
	flag.Parse()

	var count atomic.Int64
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		fmt.Printf("server_count %d\n", count.Load())
		os.Exit(0)
	}()

	switch *mode {
	case "h1":
		s := &fasthttp.Server{
			Handler: func(ctx *fasthttp.RequestCtx) {
				if !ctx.IsPost() {
					ctx.SetStatusCode(405)
					return
				}
				_ = ctx.PostBody()
				count.Add(1)
				if *echo {
					ctx.Response.Header.Set("X-Path", string(ctx.Path()))
				}
			},
			NoDefaultServerHeader: true,
			NoDefaultContentType:  true,
			NoDefaultDate:         true,
			Concurrency:           100000,
		}
		log.Fatal(s.ListenAndServe(*addr))
	case "h2raw":
		serveH2Raw(*addr, *echo, &count)
	case "h1std", "h2":
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			count.Add(1)
			if *echo {
				w.Header().Set("X-Path", r.URL.Path)
			}
			w.WriteHeader(200)
		})
		p := new(http.Protocols)
		if *mode == "h2" {
			p.SetUnencryptedHTTP2(true)
		} else {
			p.SetHTTP1(true)
		}
		s := &http.Server{Addr: *addr, Handler: h, Protocols: p}
		log.Fatal(s.ListenAndServe())
	default:
		log.Fatalf("bad mode %q", *mode)
	}
}
