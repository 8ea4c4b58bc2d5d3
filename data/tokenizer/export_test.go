package tokenizer

// For the external tests (package tokenizer_test, which may import data).
var (
	BrownFile     = brownFile
	Brown4096Path = brown4096Path
)
