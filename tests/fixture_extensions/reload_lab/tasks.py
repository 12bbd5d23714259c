MARK = "one"


def work(context):
    return {"mark": MARK}
