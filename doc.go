// Package relorago holds the files that relora-cpu embeds: the default
// corpus (an excerpt of the Brown corpus, see testdata/corpus/README.md).
package relorago
