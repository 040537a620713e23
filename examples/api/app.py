"""An API endpoint: counts its calls in redis and says which PostgreSQL driver it has."""
import os

import psycopg2
import redis
from flask import Flask, jsonify

app = Flask(__name__)
store = redis.Redis(host=os.environ.get("REDIS_HOST", "127.0.0.1"), port=6379)


@app.get("/count")
def count():
    return jsonify(calls=store.incr("calls"), psycopg2=psycopg2.__version__.split()[0])


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8000")))
