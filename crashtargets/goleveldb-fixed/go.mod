module github.com/in-mem/inmem/crashtargets/goleveldb-fixed

go 1.26.0

require (
	github.com/in-mem/inmem v0.0.0
	github.com/in-mem/inmem/crashtargets/leveldbtarget v0.0.0
)

require (
	github.com/golang/snappy v0.0.1 // indirect
	github.com/syndtr/goleveldb v1.0.1-0.20210305035536-64b5b1c73954 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace (
	github.com/in-mem/inmem => ../..
	github.com/in-mem/inmem/crashtargets/leveldbtarget => ../leveldbtarget
)
