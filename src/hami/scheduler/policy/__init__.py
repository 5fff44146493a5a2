"""hami.scheduler.policy"""
