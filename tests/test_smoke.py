def test_index_renders(client, committee):
    resp = client.get("/")
    assert resp.status_code == 200
    assert "匿名" in resp.get_data(as_text=True) or "anonym" in resp.get_data(as_text=True).lower()
