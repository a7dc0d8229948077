module github.com/keeptrusts/kt

go 1.26.8

require (
	filippo.io/torchwood v0.9.0 // indirect
	github.com/gowebpki/jcs v1.0.2 // indirect
	golang.org/x/crypto v0.46.0 // indirect
	golang.org/x/mod v0.43.0 // indirect
	golang.org/x/sync v0.19.0 // indirect
)
