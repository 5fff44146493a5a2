// Command kube-apiserver runs the stock Kubernetes kube-apiserver for hami's cluster tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	upstream "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(upstream.NewAPIServerCommand()))
}
