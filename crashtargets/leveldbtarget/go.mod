module github.com/in-mem/inmem/crashtargets/leveldbtarget

go 1.26.0

require (
	github.com/in-mem/inmem v0.0.0
	github.com/syndtr/goleveldb v1.0.1-0.20200815110645-5c35d600f0ca
)

require (
	github.com/golang/snappy v0.0.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/in-mem/inmem => ../..
