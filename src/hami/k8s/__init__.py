"""hami.k8s"""
