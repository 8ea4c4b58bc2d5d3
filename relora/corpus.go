package relora

import (
	"fmt"

	relorago "github.com/relora-go/relora-go"
	"github.com/relora-go/relora-go/data"
)

// Corpus is tokenized training and validation data.
type Corpus struct {
	Train, Val             []int32
	TrainSource, ValSource string
	Vocab                  int
}

// LoadCorpus reads and tokenizes the run's data (the embedded Brown excerpt
// when opts.Data is empty) with the byte-level tokenizer.
func LoadCorpus(opts Options) (*Corpus, error) {
	tok := data.ByteTokenizer{}
	c := &Corpus{Vocab: tok.VocabSize()}
	var trainText, valText []byte
	var err error
	if opts.Data == "" {
		c.TrainSource, c.ValSource = "embedded Brown train excerpt", "embedded Brown val"
		if trainText, err = data.DecodeGzip(c.TrainSource, relorago.DefaultTrain); err != nil {
			return nil, err
		}
		if valText, err = data.DecodeGzip(c.ValSource, relorago.DefaultVal); err != nil {
			return nil, err
		}
	} else {
		c.TrainSource = opts.Data
		if trainText, err = data.ReadText(opts.Data); err != nil {
			return nil, err
		}
		if len(trainText) == 0 {
			return nil, fmt.Errorf("data file %s is empty", opts.Data)
		}
	}
	if opts.ValData != "" {
		c.ValSource = opts.ValData
		if valText, err = data.ReadText(opts.ValData); err != nil {
			return nil, err
		}
	}
	c.Train = data.ToInt32(tok.Encode(trainText))
	if valText != nil {
		c.Val = data.ToInt32(tok.Encode(valText))
	} else { // hold out the last 5% of the training stream
		cut := len(c.Train) - len(c.Train)/20
		c.Train, c.Val = c.Train[:cut], c.Train[cut:]
		c.ValSource = opts.Data + " (last 5%)"
	}
	return c, nil
}
