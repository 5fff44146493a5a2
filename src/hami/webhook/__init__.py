"""hami.webhook"""
