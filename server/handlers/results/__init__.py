"""Exam results (考试管理-查看成绩)."""
