module github.com/garden-ts/go-conformance

go 1.22

require (
	code.cloudfoundry.org/garden v0.0.0-20240906210158-d3ba7afc2097
	code.cloudfoundry.org/lager/v3 v3.3.0
)

require (
	github.com/bmizerany/pat v0.0.0-20210406213842-e4b6760bdd6f // indirect
	github.com/go-task/slim-sprig/v3 v3.0.0 // indirect
	github.com/google/pprof v0.0.0-20240903155634-a8630aee4ab9 // indirect
	github.com/nxadm/tail v1.4.11 // indirect
	github.com/onsi/ginkgo/v2 v2.20.2 // indirect
	github.com/openzipkin/zipkin-go v0.4.3 // indirect
	github.com/tedsuo/rata v1.0.0 // indirect
	golang.org/x/tools v0.24.0 // indirect
)
