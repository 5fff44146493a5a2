// Command kube-controller-manager runs the stock Kubernetes kube-controller-manager for hami's cluster tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	upstream "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(upstream.NewControllerManagerCommand()))
}
