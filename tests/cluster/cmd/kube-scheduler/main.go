// Command kube-scheduler runs the stock Kubernetes kube-scheduler for hami's cluster tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	upstream "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	os.Exit(cli.Run(upstream.NewSchedulerCommand()))
}
