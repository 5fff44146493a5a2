"""hami.scheduler"""
