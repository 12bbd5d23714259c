def collect(context, **parameters):
    return {"collected": 3}
