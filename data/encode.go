package data

import (
	"errors"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/relora-go/relora-go/data/tokenizer"
)

// Parallel tokenization of a corpus into token streams, in document order.

// EncodeProgress is what EncodeCorpus has done so far. Fields are read
// with atomic loads by Progress callers.
type EncodeProgress struct {
	Docs      int64 // documents read
	Bytes     int64 // document bytes read (uncompressed)
	Tokens    int64 // tokens emitted (separators included)
	FileBytes int64 // on-disk bytes of the files finished so far
	FileTotal int64 // on-disk bytes of all the files
	Files     int64 // files finished
	FileDocs  int64 // document bytes of the files finished so far
}

type encodeJob struct {
	seq   int
	first int // index of the first document
	docs  [][]byte
	ids   [][]int
}

// EncodeCorpus reads the documents of paths (see ReadDocuments), encodes
// them with tok on threads goroutines (0: all cores) and calls emit with
// each document's index and ids, the separator appended, in document order
// and from a single goroutine. prog, if not nil, is updated as it goes. An
// error from reading or from emit stops everything and is returned.
func EncodeCorpus(paths []string, tok tokenizer.Tokenizer, threads int, prog *EncodeProgress, emit func(doc int, ids []int) error) error {
	files, err := ExpandPaths(paths...)
	if err != nil {
		return err
	}
	if prog == nil {
		prog = &EncodeProgress{}
	}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			prog.FileTotal += st.Size()
		}
	}
	docs := func(fn func(doc []byte) error) error {
		for _, f := range files {
			if err := ReadDocumentsFile(f, fn); err != nil {
				return err
			}
			if st, err := os.Stat(f); err == nil {
				atomic.AddInt64(&prog.FileBytes, st.Size())
			}
			atomic.StoreInt64(&prog.FileDocs, atomic.LoadInt64(&prog.Bytes))
			atomic.AddInt64(&prog.Files, 1)
		}
		return nil
	}
	return encodeParallel(docs, tok, threads, prog, emit)
}

// EncodeDocumentsParallel is EncodeDocuments on threads goroutines (0: all
// cores); the result is the same.
func EncodeDocumentsParallel(tok tokenizer.Tokenizer, docs [][]byte, threads int) []int {
	var out []int
	walk := func(fn func([]byte) error) error {
		for _, d := range docs {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}
	encodeParallel(walk, tok, threads, nil, func(_ int, ids []int) error {
		out = append(out, ids...)
		return nil
	})
	return out
}

var errStopped = errors.New("stopped")

func encodeParallel(walk func(fn func([]byte) error) error, tok tokenizer.Tokenizer, threads int, prog *EncodeProgress, emit func(int, []int) error) error {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if prog == nil {
		prog = &EncodeProgress{}
	}
	sep := tokenizer.Separator(tok)
	const jobBytes = 1 << 20
	jobs := make(chan *encodeJob, threads)
	results := make(chan *encodeJob, threads)
	slots := make(chan struct{}, 4*threads) // jobs between reading and emitting
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }

	var readErr error
	go func() { // reader
		defer close(jobs)
		seq, n := 0, 0
		cur := &encodeJob{}
		size := 0
		send := func() bool {
			select {
			case <-stop:
				return false
			default:
			}
			select {
			case slots <- struct{}{}:
			case <-stop:
				return false
			}
			jobs <- cur
			seq++
			cur = &encodeJob{seq: seq, first: n}
			size = 0
			return true
		}
		readErr = walk(func(doc []byte) error {
			cur.docs = append(cur.docs, doc)
			n++
			size += len(doc)
			atomic.AddInt64(&prog.Docs, 1)
			atomic.AddInt64(&prog.Bytes, int64(len(doc)))
			if size >= jobBytes && !send() {
				return errStopped
			}
			return nil
		})
		if readErr == nil && len(cur.docs) > 0 {
			send()
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func() { // encoders
			defer wg.Done()
			for j := range jobs {
				j.ids = make([][]int, len(j.docs))
				for i, d := range j.docs {
					ids := tok.Encode(d)
					if sep >= 0 {
						ids = append(ids, sep)
					}
					j.ids[i] = ids
				}
				j.docs = nil
				results <- j
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	// Emit in order from this goroutine.
	pending := map[int]*encodeJob{}
	next := 0
	var emitErr error
	for j := range results {
		if emitErr != nil {
			<-slots
			continue // drain
		}
		pending[j.seq] = j
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			for i, ids := range r.ids {
				if emitErr == nil {
					emitErr = emit(r.first+i, ids)
					atomic.AddInt64(&prog.Tokens, int64(len(ids)))
				}
			}
			<-slots
			if emitErr != nil {
				halt()
				for range pending {
					<-slots
				}
				clear(pending)
				break
			}
		}
	}
	halt()
	if readErr != nil && readErr != errStopped {
		return readErr
	}
	return emitErr
}

// IsValDocument reports whether document i of a corpus goes to the
// validation split for a held-out fraction f: the documents at which
// round(i·f) steps up, so that about f of them, spread evenly through the
// corpus, are held out (the first at i ≈ 1/(2f)), the same ones every time.
func IsValDocument(i int, f float64) bool {
	if f <= 0 {
		return false
	}
	if f >= 1 {
		return true
	}
	return math.Floor(float64(i+1)*f+0.5) > math.Floor(float64(i)*f+0.5)
}
