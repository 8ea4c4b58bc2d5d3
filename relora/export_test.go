package relora

// What the external tests (writeschedule_test.go, package relora_test)
// need of this package's test data.
var (
	Jagged     = jagged
	RefVectorB = refVectorB
	Near       = near
)
